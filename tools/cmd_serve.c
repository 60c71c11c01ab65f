/* `eddy serve`: loads the configuration, opens the data directory and the
 * topic registry, starts the Kafka and MQTT listeners and runs the event
 * loop until SIGTERM/SIGINT, then shuts down cleanly (storage flushed and
 * closed). Port 0 in a listener binds a port the OS picks; the log, the
 * port file (--port-file) and Metadata name the port really bound. */
#define ED_LOG_MODULE "serve"
#include "core/broker.h"
#include "core/config.h"
#include "core/group.h"
#include "core/kapi_data.h"
#include "core/pidstate.h"
#include "core/server.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"
#include "tools/cmds.h"

#include <stdio.h>
#include <string.h>

#if ED_WITH_MQTT
#include "bridge/mqtt.h"
#else
/* Built without MQTT (WITH_MQTT=0): no listener is ever made. */
typedef struct ed_mqtt ed_mqtt;
static void ed_mqtt_shutdown(ed_mqtt *m)
{
    ED_UNUSED(m);
}
static void ed_mqtt_free(ed_mqtt *m)
{
    ED_UNUSED(m);
}
#endif

struct serve {
    struct ed_config *cfg;
    ed_loop *loop;
    ed_storage *st;
    ed_topics *topics;
    ed_groups *groups;
    ed_server *srv;
    ed_mqtt *mqtt;
    char mqtt_addr[300];   /* first MQTT listener, for the status line */
    const char *port_file; /* --port-file: name=host:port per bound listener */
    char bound[ED_CONFIG_MAX_LISTENERS * 2][300]; /* those lines, in order */
    int n_bound;
    ed_wakeup *wake;
    ed_timer tick;
    ed_timer watchdog;
    uint64_t watchdog_ms;
    ed_broker b;
    bool stopping;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: eddy serve [--config FILE] [--set key=value ...] [--port-file FILE]\n"
                 "                  [--help]\n\n"
                 "Runs the broker. --config reads a Kafka-style server.properties file;\n"
                 "each --set overrides one key (applied after the file, in order).\n"
                 "--port-file writes one line NAME=host:port per listener (MQTT ones\n"
                 "as mqtt=host:port) once all are bound, replacing FILE in one step:\n"
                 "with port 0 in a listener, the OS picks a free port and FILE says which.\n\n"
                 "keys:\n");
}

static void print_line(void *arg, const char *line)
{
    fprintf(arg, "%s\n", line);
}

/* ---- storage plumbing: completions from the flusher thread ---- */

static void storage_notify(void *arg)
{
    ed_plat_wakeup_signal(arg); /* any thread */
}

static void on_wake(void *arg)
{
    struct serve *s = arg;
    ed_storage_run_completions(s->st);
}

static void on_tick(ed_timer *t, void *arg)
{
    struct serve *s = arg;
    ed_storage_run_completions(s->st); /* belt and braces: see log.h */
    uint32_t next = ed_storage_tick(s->st, ed_plat_clock_wall_ms());
    ed_plat_timer_start(s->loop, t, ED_MAX(next, 1u), on_tick, s);
}

/* systemd's watchdog: alive as long as the loop turns. */
static void on_watchdog(ed_timer *t, void *arg)
{
    struct serve *s = arg;
    ed_plat_notify("WATCHDOG=1");
    ed_plat_timer_start(s->loop, t, (uint32_t)ED_MAX(s->watchdog_ms / 2, 1), on_watchdog, s);
}

static void on_signal(void *arg)
{
    struct serve *s = arg;
    if (s->stopping) return;
    s->stopping = true;
    ED_LOG_INFO("shutting down");
    ed_plat_notify("STOPPING=1");
    /* Stop taking work, drop connections (pending requests are cancelled;
     * what was appended is flushed by ed_storage_close). */
    ed_server_stop_accepting(s->srv);
    ed_server_close_all(s->srv);
    /* MQTT: what is gathered is appended (and flushed at close); clients
     * whose QoS 1/2 acknowledgement was still owed resend on reconnect. */
    if (s->mqtt) ed_mqtt_shutdown(s->mqtt);
    ed_plat_loop_stop(s->loop);
}

/* ---- listeners ---- */

/* Notes a bound listener for the port file. */
static void note_bound(struct serve *s, const char *name, const char *host, uint16_t port)
{
    if (s->n_bound < (int)ED_ARRAY_LEN(s->bound))
        snprintf(s->bound[s->n_bound++], sizeof s->bound[0], "%s=%s:%u", name, host, port);
}

/* Writes the port file: all lines to FILE.tmp, then a rename over FILE, so
 * a reader sees no file or the whole list, never a part of it. */
static int write_port_file(const struct serve *s)
{
    char tmp[1024];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", s->port_file);
    FILE *f = n > 0 && (size_t)n < sizeof tmp ? fopen(tmp, "w") : NULL;
    bool ok = f != NULL;
    for (int i = 0; ok && i < s->n_bound; i++)
        ok = fprintf(f, "%s\n", s->bound[i]) > 0;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, s->port_file) == 0) return ED_OK;
    fprintf(stderr, "eddy serve: cannot write the port file %s\n", s->port_file);
    if (f) remove(tmp);
    return ED_ERR_IO;
}

static bool is_any(const char *host)
{
    return !*host || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

static int start_listeners(struct serve *s)
{
    struct ed_config_listener ls[ED_CONFIG_MAX_LISTENERS], adv[ED_CONFIG_MAX_LISTENERS];
    int n = 0, n_adv = 0;
    char why[256];
    ed_config_listeners(ed_config_str(s->cfg, "listeners"), ls, ED_CONFIG_MAX_LISTENERS, &n, why,
                        sizeof why);
    ed_config_listeners(ed_config_str(s->cfg, "advertised.listeners"), adv, ED_CONFIG_MAX_LISTENERS,
                        &n_adv, why, sizeof why);
    bool advertised = false;
    for (int i = 0; i < n; i++) {
        if (strcmp(ls[i].name, "CONTROLLER") == 0) {
            ED_LOG_WARN("skipping listener %s://%s:%u (Eddy has no controller quorum)", ls[i].name,
                        ls[i].host, ls[i].port);
            continue;
        }
        uint16_t port;
        const char *host = *ls[i].host ? ls[i].host : "0.0.0.0";
        int rc = ed_server_listen(s->srv, host, ls[i].port, &port);
        if (rc != ED_OK) {
            fprintf(stderr, "eddy serve: cannot listen on %s:%u: %s\n", host, ls[i].port,
                    ed_strerror(rc));
            return rc;
        }
        ED_LOG_INFO("listening on %s:%u (%s)", host, port, ls[i].name);
        note_bound(s, ls[i].name, host, port);
        if (advertised) continue;
        /* Metadata names one address: the advertised listener of the same
         * name (port 0 there: the port this listener bound), else this
         * listener's address. */
        for (int k = 0; k < n_adv && !advertised; k++) {
            if (strcmp(adv[k].name, ls[i].name) != 0) continue;
            snprintf(s->b.adv_host, sizeof s->b.adv_host, "%s", adv[k].host);
            s->b.adv_port = adv[k].port ? adv[k].port : port;
            advertised = true;
        }
        if (!advertised) {
            if (is_any(ls[i].host))
                ed_plat_net_default_host(s->b.adv_host, sizeof s->b.adv_host);
            else
                snprintf(s->b.adv_host, sizeof s->b.adv_host, "%s", ls[i].host);
            s->b.adv_port = port;
            advertised = true;
        }
    }
    ED_LOG_INFO("advertising %s:%u to clients", s->b.adv_host, s->b.adv_port);
    return ED_OK;
}

#if ED_WITH_MQTT
static int start_mqtt(struct serve *s)
{
    struct ed_config_listener ls[ED_CONFIG_MAX_LISTENERS];
    int n = 0;
    char why[512];
    ed_config_listeners(ed_config_str(s->cfg, "mqtt.listeners"), ls, ED_CONFIG_MAX_LISTENERS, &n,
                        why, sizeof why);
    if (n == 0) return ED_OK;
    int rc = ed_mqtt_new(&s->b, why, sizeof why, &s->mqtt);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy serve: %s\n", rc == ED_ERR_INVAL ? why : ed_strerror(rc));
        return rc;
    }
    for (int i = 0; i < n; i++) {
        uint16_t port;
        const char *host = *ls[i].host ? ls[i].host : "0.0.0.0";
        rc = ed_mqtt_listen(s->mqtt, host, ls[i].port, &port);
        if (rc != ED_OK) {
            fprintf(stderr, "eddy serve: cannot listen on %s:%u (MQTT): %s\n", host, ls[i].port,
                    ed_strerror(rc));
            return rc;
        }
        ED_LOG_INFO("listening on %s:%u (MQTT)", host, port);
        note_bound(s, "mqtt", host, port);
        if (i == 0) snprintf(s->mqtt_addr, sizeof s->mqtt_addr, "%s:%u", host, port);
    }
    return ED_OK;
}
#else
static int start_mqtt(struct serve *s)
{
    ED_UNUSED(s);
    return ED_OK;
}
#endif

/* ---- main ---- */

static int parse_args(struct serve *s, int argc, char **argv)
{
    char why[512];
    const char *file = NULL;
    int n_sets = 0;
    const char **sets = NULL; /* key=value strings, in order */
    int rc = 0;
    if (argc > 1) sets = ed_calloc((size_t)argc, sizeof *sets);
    if (argc > 1 && !sets) return -1;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            ed_config_help(print_line, stdout);
            rc = 1;
        } else if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (i + 1 < argc) {
                file = argv[++i];
            } else {
                fprintf(stderr, "eddy serve: %s needs a file\n", a);
                rc = -1;
            }
        } else if (strncmp(a, "--config=", 9) == 0) {
            file = a + 9;
        } else if (strcmp(a, "--set") == 0) {
            if (i + 1 < argc) {
                sets[n_sets++] = argv[++i];
            } else {
                fprintf(stderr, "eddy serve: --set needs key=value\n");
                rc = -1;
            }
        } else if (strncmp(a, "--set=", 6) == 0) {
            sets[n_sets++] = a + 6;
        } else if (strcmp(a, "--port-file") == 0) {
            if (i + 1 < argc) {
                s->port_file = argv[++i];
            } else {
                fprintf(stderr, "eddy serve: --port-file needs a file\n");
                rc = -1;
            }
        } else if (strncmp(a, "--port-file=", 12) == 0) {
            s->port_file = a + 12;
        } else {
            fprintf(stderr, "eddy serve: unknown argument '%s' (see eddy serve --help)\n", a);
            rc = -1;
        }
    }
    if (rc == 0 && file && ed_config_load(s->cfg, file, why, sizeof why) != ED_OK) {
        fprintf(stderr, "eddy serve: %s\n", why);
        rc = -1;
    }
    /* --set after the file, whatever their position on the line */
    for (int i = 0; i < n_sets && rc == 0; i++) {
        const char *kv = sets[i];
        const char *eq = strchr(kv, '=');
        char key[128];
        if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key) {
            fprintf(stderr, "eddy serve: --set %s: expected key=value\n", kv);
            rc = -1;
            break;
        }
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        if (ed_config_set(s->cfg, key, eq + 1, why, sizeof why) != ED_OK) {
            fprintf(stderr, "eddy serve: --set %s\n", why);
            rc = -1;
        }
    }
    ed_free(sets);
    return rc;
}

int ed_cmd_serve(int argc, char **argv)
{
    uint64_t t0 = ed_plat_clock_mono_ns();
    struct serve s;
    memset(&s, 0, sizeof s);
    int rc = ed_config_new(&s.cfg);
    if (rc != ED_OK) return 1;
    int pr = parse_args(&s, argc, argv);
    if (pr != 0) {
        ed_config_free(s.cfg);
        return pr > 0 ? 0 : 2;
    }
    ed_log_set_level(ed_log_level_parse(ed_config_str(s.cfg, "log.level")));
    ed_mem_set_limit((size_t)ed_config_int(s.cfg, "memory.max.bytes"));

    struct ed_storage_config sc;
    ed_config_storage(s.cfg, &sc);
    int status = 1;
    rc = ed_plat_loop_new(&s.loop);
    if (rc != ED_OK) goto out;
    rc = ed_storage_open(&sc, &s.st);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy serve: cannot open the data directory %s: %s\n", sc.dir,
                ed_strerror(rc));
        goto out;
    }
    s.b.node_id = (int32_t)ed_config_int(s.cfg, "node.id");
    rc = ed_topics_meta_properties(sc.dir, s.b.node_id, s.b.cluster_id);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy serve: %s/meta.properties: %s\n", sc.dir, ed_strerror(rc));
        goto out;
    }
    rc = ed_topics_open_dir(s.st, sc.dir, &sc.log, &s.topics);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy serve: cannot open the topic registry in %s: %s\n", sc.dir,
                ed_strerror(rc));
        goto out;
    }
    ed_topics_set_broker_config(s.topics, s.cfg);
    rc = ed_kapi_data_attach(s.topics);
    if (rc != ED_OK) goto out;
    rc = ed_pids_open(sc.dir, &s.b.pids);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy serve: cannot open %s/%s: %s\n", sc.dir, ED_PIDS_FILE,
                ed_strerror(rc));
        goto out;
    }
    rc = ed_plat_wakeup_new(s.loop, on_wake, &s, &s.wake);
    if (rc != ED_OK) goto out;
    /* Flushes that the open started and that already finished are
     * announced by set_notify itself (a wake-up of the loop). */
    ed_storage_set_notify(s.st, storage_notify, s.wake);
    s.b.loop = s.loop;
    s.b.storage = s.st;
    s.b.topics = s.topics;
    s.b.cfg = s.cfg;
    struct ed_groups_config gc;
    ed_groups_config_from(s.cfg, &gc);
    rc = ed_groups_open(&s.b, &gc, &s.groups);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy serve: cannot load the consumer groups from %s: %s\n", sc.dir,
                ed_strerror(rc));
        goto out;
    }
    s.b.groups = s.groups;
    int64_t queued_max = ed_config_int(s.cfg, "queued.max.request.bytes");
    if (queued_max > 0) {
        rc = ed_conn_budget_new((size_t)queued_max, &s.b.budget);
        if (rc != ED_OK) goto out;
    }
    rc = ed_server_new(&s.b, &s.srv);
    if (rc != ED_OK) goto out;
    rc = ed_plat_loop_on_signal(s.loop, on_signal, &s);
    if (rc != ED_OK) goto out;
    rc = start_listeners(&s);
    if (rc != ED_OK) goto out;
    rc = start_mqtt(&s);
    if (rc != ED_OK) goto out;
    if (s.port_file) {
        rc = write_port_file(&s);
        if (rc != ED_OK) goto out;
    }
    on_tick(&s.tick, &s);
    char status_line[700];
    snprintf(status_line, sizeof status_line, "READY=1\nSTATUS=serving Kafka clients at %s:%u%s%s",
             s.b.adv_host, s.b.adv_port, s.mqtt ? ", MQTT at " : "", s.mqtt ? s.mqtt_addr : "");
    ed_plat_notify(status_line);
    s.watchdog_ms = ed_plat_watchdog_interval_ms();
    if (s.watchdog_ms > 0) on_watchdog(&s.watchdog, &s);
    ED_LOG_INFO("eddy ready in %.1f ms: %d topic%s, data in %s, cluster %s, node %d",
                (double)(ed_plat_clock_mono_ns() - t0) / 1e6, (int)ed_topics_count(s.topics),
                ed_topics_count(s.topics) == 1 ? "" : "s", sc.dir, s.b.cluster_id,
                (int)s.b.node_id);
    rc = ed_plat_loop_run(s.loop);
    status = rc == ED_OK ? 0 : 1;
out:
    if (s.loop) {
        ed_plat_timer_stop(s.loop, &s.tick);
        ed_plat_timer_stop(s.loop, &s.watchdog);
    }
    ed_server_free(s.srv);
    ed_mqtt_free(s.mqtt);      /* before the storage: its durable waits let go */
    ed_groups_close(s.groups); /* after the server cancelled parked requests */
    ed_pids_close(s.b.pids);
    ed_conn_budget_free(s.b.budget); /* after every listener let go of it */
    ed_topics_close(s.topics);
    uint64_t t1 = ed_plat_clock_mono_ns();
    if (s.st) ed_storage_close(s.st); /* flushes everything */
    if (s.st)
        ED_LOG_INFO("storage closed in %.1f ms", (double)(ed_plat_clock_mono_ns() - t1) / 1e6);
    ed_plat_wakeup_free(s.wake);
    ed_plat_loop_free(s.loop);
    ed_config_free(s.cfg);
    return status;
}
