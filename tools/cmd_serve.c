/* `eddy serve`: parses the command line and the configuration, opens the
 * broker (core/broker.h owns start-up and shutdown order), starts the Kafka
 * and MQTT services, writes the port file, tells systemd it is ready and
 * runs until SIGTERM/SIGINT. Port 0 in a listener binds a port the OS
 * picks; the log, the port file (--port-file) and Metadata name the port
 * really bound. */
#define ED_LOG_MODULE "serve"
#include "core/broker.h"
#include "core/config.h"
#include "core/kafka/server.h"
#include "core/kafka/mirror.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"
#include "tools/cmds.h"

#include <stdio.h>
#include <string.h>

#if ED_WITH_MQTT
#include "bridge/http.h"
#include "bridge/mqtt.h"
#include "bridge/mqtt_bridge.h"
#endif
#if ED_WITH_COAP
#include "bridge/coap.h"
#endif

struct serve {
    struct ed_config *cfg;
    const char *port_file; /* --port-file: name=host:port per bound listener */
    const char *file;      /* --config */
    const char **sets;     /* the --set key=value strings, in order */
    int n_sets;
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

/* ---- the port file ---- */

/* Writes the port file: all lines to FILE.tmp, then a rename over FILE, so
 * a reader sees no file or the whole list, never a part of it. */
static int write_port_file(const struct serve *s, const ed_broker *b)
{
    char tmp[1024];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", s->port_file);
    FILE *f = n > 0 && (size_t)n < sizeof tmp ? fopen(tmp, "w") : NULL;
    bool ok = f != NULL;
    for (int i = 0; ok && i < ed_broker_n_bound(b); i++)
        ok = fprintf(f, "%s\n", ed_broker_bound(b, i)) > 0;
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, s->port_file) == 0) return ED_OK;
    fprintf(stderr, "eddy serve: cannot write the port file %s\n", s->port_file);
    if (f) remove(tmp);
    return ED_ERR_IO;
}

/* ---- main ---- */

/* Fills c from the --config file, then the --set values (after the file,
 * whatever their position on the line): at start and again for SIGHUP. */
static int read_config(const struct serve *s, struct ed_config *c, char *why, size_t why_len)
{
    char e[480];
    if (s->file && ed_config_load(c, s->file, why, why_len) != ED_OK) return ED_ERR_INVAL;
    for (int i = 0; i < s->n_sets; i++) {
        const char *kv = s->sets[i];
        const char *eq = strchr(kv, '=');
        char key[128];
        if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key) {
            snprintf(why, why_len, "--set %s: expected key=value", kv);
            return ED_ERR_INVAL;
        }
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        if (ed_config_set(c, key, eq + 1, e, sizeof e) != ED_OK) {
            snprintf(why, why_len, "--set %s", e);
            return ED_ERR_INVAL;
        }
    }
    return ED_OK;
}

/* SIGHUP: the configuration as a fresh start would read it. */
static int reread_config(void *arg, struct ed_config **out, char *why, size_t why_len)
{
    struct ed_config *c = NULL;
    int rc = ed_config_new(&c);
    if (rc != ED_OK) {
        snprintf(why, why_len, "out of memory");
        return rc;
    }
    rc = read_config(arg, c, why, why_len);
    if (rc != ED_OK) {
        ed_config_free(c);
        return rc;
    }
    *out = c;
    return ED_OK;
}

static int parse_args(struct serve *s, int argc, char **argv)
{
    char why[512];
    int rc = 0;
    if (argc > 1) s->sets = ed_calloc((size_t)argc, sizeof *s->sets);
    if (argc > 1 && !s->sets) return -1;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            ed_config_help(print_line, stdout);
            rc = 1;
        } else if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (i + 1 < argc) {
                s->file = argv[++i];
            } else {
                fprintf(stderr, "eddy serve: %s needs a file\n", a);
                rc = -1;
            }
        } else if (strncmp(a, "--config=", 9) == 0) {
            s->file = a + 9;
        } else if (strcmp(a, "--set") == 0) {
            if (i + 1 < argc) {
                s->sets[s->n_sets++] = argv[++i];
            } else {
                fprintf(stderr, "eddy serve: --set needs key=value\n");
                rc = -1;
            }
        } else if (strncmp(a, "--set=", 6) == 0) {
            s->sets[s->n_sets++] = a + 6;
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
    if (rc == 0 && read_config(s, s->cfg, why, sizeof why) != ED_OK) {
        fprintf(stderr, "eddy serve: %s\n", why);
        rc = -1;
    }
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
        ed_free(s.sets);
        ed_config_free(s.cfg);
        return pr > 0 ? 0 : 2;
    }
    ed_log_set_level(ed_log_level_parse(s.cfg->log_level));
    ed_mem_set_limit((size_t)s.cfg->memory_max_bytes);

    char why[512];
    ed_broker *b = NULL;
    int status = 1;
    rc = ed_broker_open(s.cfg, &b, why, sizeof why);
    if (rc == ED_OK) ed_broker_set_config_reader(b, reread_config, &s);
    if (rc == ED_OK) rc = ed_server_start(b, NULL, why, sizeof why);
#if ED_WITH_MQTT
    if (rc == ED_OK) rc = ed_mqtt_start(b, NULL, why, sizeof why);
    if (rc == ED_OK) rc = ed_mqtt_bridge_start(b, NULL, why, sizeof why);
#endif
#if ED_WITH_COAP
    if (rc == ED_OK) rc = ed_coap_start(b, NULL, why, sizeof why);
#endif
    if (rc == ED_OK) rc = ed_http_start(b, NULL, why, sizeof why);
    if (rc == ED_OK) rc = ed_mirror_start(b, NULL, why, sizeof why);
    if (rc != ED_OK) {
        fprintf(stderr, "eddy serve: %s\n", why);
        goto out;
    }
    if (s.port_file && write_port_file(&s, b) != ED_OK) goto out;
    /* systemd's status line names the Kafka address and the first MQTT one */
    const char *mqtt = NULL;
    for (int i = 0; i < ed_broker_n_bound(b) && !mqtt; i++)
        if (strncmp(ed_broker_bound(b, i), "mqtt=", 5) == 0) mqtt = ed_broker_bound(b, i) + 5;
    char status_line[700];
    snprintf(status_line, sizeof status_line, "READY=1\nSTATUS=serving Kafka clients at %s:%u%s%s",
             b->adv_host, b->adv_port, mqtt ? ", MQTT at " : "", mqtt ? mqtt : "");
    ed_plat_notify(status_line);
    ED_LOG_INFO("eddy ready in %.1f ms: %d topic%s, data in %s, cluster %s, node %d",
                (double)(ed_plat_clock_mono_ns() - t0) / 1e6, (int)ed_topics_count(b->topics),
                ed_topics_count(b->topics) == 1 ? "" : "s", s.cfg->log_dirs, b->cluster_id,
                (int)b->node_id);
    ed_plat_mem_trim();
    ed_plat_mem_release_code();
    status = ed_broker_run(b) == ED_OK ? 0 : 1;
out:
    ed_broker_close(b);
    ed_free(s.sets);
    ed_config_free(s.cfg);
    return status;
}
