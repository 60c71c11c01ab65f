/* GET /metrics: the Prometheus text exposition format (version 0.0.4) of
 * the metrics registry (core/metrics.h) and of what other modules already
 * count or know: the storage's counters, partition offsets and sizes,
 * consumer-group lag, the mirror's lag from its status file, memory, and
 * the process's resident memory and CPU time. Built on the loop from
 * current values; nothing is kept between scrapes. */
#define ED_LOG_MODULE "http"
#include "bridge/http_int.h"
#include "bridge/http_out.h"
#if ED_WITH_MQTT
#include "bridge/mqtt_bridge.h"
#include "bridge/mqtt_codec.h"
#endif
#include "core/group.h"
#include "core/kafka/kapi.h"
#include "core/kafka/mirror.h"
#include "core/metrics.h"
#include "core/topics.h"
#include "platform/mem.h"
#include "platform/platform.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_MAX (4u << 20)

static void family(struct ed_http_out *o, const char *name, const char *type, const char *help)
{
    ed_http_out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The name of API api of protocol p, for the api label. */
static const char *api_name(enum ed_metrics_proto p, int api, char *buf, size_t cap)
{
    if (p == ED_METRICS_KAFKA && api < ED_KAPI_N_KEYS && ed_kapi_table[api].name)
        return ed_kapi_table[api].name;
#if ED_WITH_MQTT
    if (p == ED_METRICS_MQTT) return ed_mqtt_type_name(api);
#endif
    if (p == ED_METRICS_HTTP) return ed_http_api_route_name(api);
    snprintf(buf, cap, "%d", api);
    return buf;
}

static void topic_counters(struct ed_http_out *o, const struct ed_metrics *m)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } fams[] = {
        {"eddy_topic_in_records_total", "Records appended, by topic and protocol",
         offsetof(struct ed_metrics_topic, n_in)},
        {"eddy_topic_in_bytes_total", "Bytes appended (record batches), by topic and protocol",
         offsetof(struct ed_metrics_topic, len_in)},
        {"eddy_topic_out_records_total",
         "Records sent to clients, by topic and protocol (Kafka fetches count bytes only)",
         offsetof(struct ed_metrics_topic, n_out)},
        {"eddy_topic_out_bytes_total", "Bytes sent to clients, by topic and protocol",
         offsetof(struct ed_metrics_topic, len_out)},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        family(o, fams[f].name, "counter", fams[f].help);
        for (int i = 0; i < m->n_topics; i++) {
            const struct ed_metrics_topic *t = &m->topics[i];
            const uint64_t *v = (const uint64_t *)((const char *)t + fams[f].off);
            for (int p = 0; p < ED_METRICS_N_PROTO; p++) {
                if (!v[p]) continue;
                ed_http_out_printf(o, "%s{topic=\"", fams[f].name);
                ed_http_out_label(o, t->name);
                ed_http_out_printf(o, "\",protocol=\"%s\"} %" PRIu64 "\n",
                                   ed_metrics_proto_name((enum ed_metrics_proto)p), v[p]);
            }
        }
    }
}

static void requests(struct ed_http_out *o, const struct ed_metrics *m)
{
    char buf[16];
    for (int e = 0; e < 2; e++) {
        const char *name = e ? "eddy_request_errors_total" : "eddy_requests_total";
        family(o, name, "counter",
               e ? "Requests refused or failed, by protocol and API (Kafka: the connection was "
                   "closed; HTTP: answered 4xx or 5xx)"
                 : "Requests handled, by protocol and API (MQTT: packets by type)");
        for (int p = 0; p < ED_METRICS_N_PROTO; p++)
            for (int a = 0; a < ED_METRICS_MAX_API; a++) {
                uint64_t v = e ? m->n_errors[p][a] : m->n_requests[p][a];
                if (!m->n_requests[p][a]) continue;
                ed_http_out_printf(o, "%s{protocol=\"%s\",api=\"", name,
                                   ed_metrics_proto_name((enum ed_metrics_proto)p));
                ed_http_out_label(o, api_name((enum ed_metrics_proto)p, a, buf, sizeof buf));
                ed_http_out_printf(o, "\"} %" PRIu64 "\n", v);
            }
    }
}

static void connections(struct ed_http_out *o, const struct ed_metrics *m)
{
    family(o, "eddy_connections", "gauge", "Connections open now, by protocol");
    for (int p = 1; p < ED_METRICS_N_PROTO; p++)
        ed_http_out_printf(o, "eddy_connections{protocol=\"%s\"} %" PRId64 "\n",
                           ed_metrics_proto_name((enum ed_metrics_proto)p), m->n_conns_open[p]);
    family(o, "eddy_connections_accepted_total", "counter", "Connections accepted, by protocol");
    for (int p = 1; p < ED_METRICS_N_PROTO; p++)
        ed_http_out_printf(o, "eddy_connections_accepted_total{protocol=\"%s\"} %" PRIu64 "\n",
                           ed_metrics_proto_name((enum ed_metrics_proto)p), m->n_conns_accepted[p]);
    family(o, "eddy_bad_input_total", "counter",
           "Connections closed for bad input (logged), by protocol");
    for (int p = 1; p < ED_METRICS_N_PROTO; p++)
        ed_http_out_printf(o, "eddy_bad_input_total{protocol=\"%s\"} %" PRIu64 "\n",
                           ed_metrics_proto_name((enum ed_metrics_proto)p), m->n_bad_input[p]);
}

/* A histogram; scale divides the recorded unit into the exposed one. */
static void histogram(struct ed_http_out *o, const char *name, const char *help,
                      const struct ed_metrics_hist *h, double scale)
{
    family(o, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < h->n_bounds; i++) {
        cum += h->counts[i];
        ed_http_out_printf(o, "%s_bucket{le=\"%.10g\"} %" PRIu64 "\n", name,
                           (double)h->bounds[i] / scale, cum);
    }
    ed_http_out_printf(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
    ed_http_out_printf(o, "%s_sum %.9g\n%s_count %" PRIu64 "\n", name, (double)h->sum / scale, name,
                       h->count);
}

static void counter(struct ed_http_out *o, const char *name, const char *help, uint64_t v)
{
    family(o, name, "counter", help);
    ed_http_out_printf(o, "%s %" PRIu64 "\n", name, v);
}

static void compaction(struct ed_http_out *o, const struct ed_storage_stats *ss)
{
    family(o, "eddy_compaction_passes_total", "counter",
           "Compaction passes, completed or aborted (an error; the log is left as it was)");
    ed_http_out_printf(o,
                       "eddy_compaction_passes_total{result=\"completed\"} %" PRIu64
                       "\neddy_compaction_passes_total{result=\"aborted\"} %" PRIu64 "\n",
                       ss->n_compactions, ss->n_compactions_aborted);
    counter(o, "eddy_compaction_read_bytes_total", "Bytes of segments compaction rewrote",
            ss->len_compacted_read);
    counter(o, "eddy_compaction_written_bytes_total", "Bytes of the cleaned segments it wrote",
            ss->len_compacted_written);
    counter(o, "eddy_compaction_records_removed_total",
            "Records compaction removed (superseded or expired tombstones)",
            ss->n_records_compacted);
    counter(o, "eddy_compaction_batches_unreadable_total",
            "Batches compaction could not read and kept as they are (logged)",
            ss->n_compact_skipped);
    counter(o, "eddy_compaction_segments_unchanged_total",
            "Segments compaction left alone: a rewrite would not have shrunk them",
            ss->n_compact_unchanged);
}

static void recompression(struct ed_http_out *o, const struct ed_storage_stats *ss)
{
    counter(o, "eddy_recompressed_batches_total",
            "Producers' batches re-encoded to their topic's compression.type",
            ss->n_batches_recoded);
    counter(o, "eddy_recompressed_in_bytes_total",
            "Bytes of those batches as the producers sent them", ss->len_recoded_in);
    counter(o, "eddy_recompressed_out_bytes_total", "Bytes of those batches as stored",
            ss->len_recoded_out);
    family(o, "eddy_recompress_seconds_total", "counter",
           "Event-loop time spent re-encoding producers' batches");
    ed_http_out_printf(o, "eddy_recompress_seconds_total %.6f\n", (double)ss->ns_recoding / 1e9);
}

static void storage(struct ed_http_out *o, ed_broker *b, const struct ed_metrics *m)
{
    family(o, "eddy_flushes_total", "counter", "fdatasync rounds that made appended data durable");
    ed_http_out_printf(o, "eddy_flushes_total %" PRIu64 "\n", m->n_flushes);
    family(o, "eddy_flash_written_bytes_total", "counter",
           "Bytes of log segments written and made durable (fdatasync)");
    ed_http_out_printf(o, "eddy_flash_written_bytes_total %" PRIu64 "\n", m->len_flushed);
    histogram(o, "eddy_flush_duration_seconds",
              "Time from asking for a flush to its completion (queue and fdatasync)", &m->flush_ns,
              1e9);
    histogram(o, "eddy_flush_size_bytes", "Bytes one flush made durable (the group commit's batch)",
              &m->flush_len, 1.0);
    if (!b->storage) return;
    struct ed_storage_stats ss;
    ed_storage_stats_get(b->storage, &ss);
    family(o, "eddy_segments_deleted_total", "counter",
           "Segments deleted, by retention or by the disk guard");
    ed_http_out_printf(o,
                       "eddy_segments_deleted_total{reason=\"retention\"} %" PRIu64
                       "\neddy_segments_deleted_total{reason=\"disk_guard\"} %" PRIu64 "\n",
                       ss.n_segments_deleted_retention, ss.n_segments_deleted_guard);
    family(o, "eddy_appends_refused_disk_full_total", "counter",
           "Appends refused at the disk budget or free-space floor");
    ed_http_out_printf(o, "eddy_appends_refused_disk_full_total %" PRIu64 "\n",
                       ss.n_appends_refused_full);
    compaction(o, &ss);
    recompression(o, &ss);
}

/* Per-partition gauges; the rows of each family are gathered in one pass
 * per family, so the page lists each family once. */
struct part_pass {
    struct ed_http_out *o;
    int which; /* 0 end offset, 1 start offset, 2 size */
};

static void part_rows(void *arg, ed_topic *t)
{
    struct part_pass *pp = arg;
    for (int32_t i = 0; i < ed_topic_n_partitions(t); i++) {
        ed_partition *p = ed_topic_partition(t, i);
        if (!p || !p->log) continue;
        static const char *const names[] = {"eddy_partition_end_offset",
                                            "eddy_partition_start_offset",
                                            "eddy_partition_size_bytes"};
        uint64_t v = pp->which == 0   ? (uint64_t)ed_log_end_offset(p->log)
                     : pp->which == 1 ? (uint64_t)ed_log_start_offset(p->log)
                                      : ed_log_size(p->log);
        ed_http_out_printf(pp->o, "%s{topic=\"", names[pp->which]);
        ed_http_out_label(pp->o, ed_topic_name(t));
        ed_http_out_printf(pp->o, "\",partition=\"%d\"} %" PRIu64 "\n", (int)i, v);
    }
}

static void partitions(struct ed_http_out *o, ed_broker *b)
{
    family(o, "eddy_partition_end_offset", "gauge", "Next offset to be written, per partition");
    struct part_pass pp = {o, 0};
    ed_topics_each(b->topics, part_rows, &pp);
    family(o, "eddy_partition_start_offset", "gauge", "First offset kept, per partition");
    pp.which = 1;
    ed_topics_each(b->topics, part_rows, &pp);
    family(o, "eddy_partition_size_bytes", "gauge", "Bytes of the partition's segments");
    pp.which = 2;
    ed_topics_each(b->topics, part_rows, &pp);
}

struct lag_pass {
    struct ed_http_out *o;
    ed_topics *topics;
};

static void lag_row(void *arg, const struct ed_groups_offset *g)
{
    struct lag_pass *lp = arg;
    if (!g->topic) return;
    ed_topic *t = ed_topics_find(lp->topics, g->topic);
    ed_partition *p = t ? ed_topic_partition(t, g->partition) : NULL;
    if (!p || !p->log || g->offset < 0) return;
    int64_t lag = ed_log_end_offset(p->log) - g->offset;
    ed_http_out_printf(lp->o, "eddy_consumer_group_lag{group=\"");
    ed_http_out_label(lp->o, g->group);
    ed_http_out_printf(lp->o, "\",topic=\"");
    ed_http_out_label(lp->o, g->topic);
    ed_http_out_printf(lp->o, "\",partition=\"%d\"} %" PRId64 "\n", (int)g->partition,
                       lag > 0 ? lag : 0);
}

static void groups(struct ed_http_out *o, ed_broker *b)
{
    family(o, "eddy_consumer_group_lag", "gauge",
           "Records between a group's committed offset and the partition's end");
    struct lag_pass lp = {o, b->topics};
    if (b->groups) ed_groups_offsets_each(b->groups, lag_row, &lp);
}

/* Reads the whole of a small file into o (false: missing or unreadable). */
bool ed_http_read_file(const char *path, struct ed_http_out *o)
{
    ed_file *f;
    if (ed_plat_file_open(path, ED_FILE_READ, &f) != ED_OK) return false;
    uint64_t size = 0;
    bool ok = ed_plat_file_size(f, &size) == ED_OK && size <= o->max_len;
    char buf[4096];
    for (uint64_t off = 0; ok && off < size;) {
        size_t n = 0;
        ok = ed_plat_file_pread(f, buf, sizeof buf, off, &n) == ED_OK && n > 0;
        if (ok) ed_http_out_put(o, buf, n);
        off += n;
    }
    ed_plat_file_close(f);
    return ok && !o->err;
}

/* One number of the mirror's status file: the digits after key, or -1. */
static long long status_number(const char *status, const char *key)
{
    const char *at = strstr(status, key);
    return at ? strtoll(at + strlen(key), NULL, 10) : -1;
}

/* The mirror's lag per partition from its status file (one line per
 * partition: "topic": "...", "partition": N, ... "lag": N), and the
 * records and ranges dropped before they were mirrored (mirror.on.full =
 * drop-oldest). */
static void mirror(struct ed_http_out *o, ed_broker *b)
{
    family(o, "eddy_mirror_lag", "gauge",
           "Records of a mirrored partition not yet copied upstream (from the mirror's status)");
    if (!b->cfg || !b->cfg->log_dirs) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", b->cfg->log_dirs, ED_MIRROR_STATUS_FILE);
    struct ed_http_out st;
    ed_http_out_init(&st, 1u << 20);
    long long ranges = -1, records = -1;
    if (ed_http_read_file(path, &st)) {
        ranges = status_number(st.p, "\"dropped_ranges\": ");
        records = status_number(st.p, "\"dropped_records\": ");
        const char *s = st.p;
        while ((s = strstr(s, "\"topic\": \"")) != NULL) {
            s += 10;
            const char *e = strchr(s, '"');
            const char *pa = e ? strstr(e, "\"partition\": ") : NULL;
            const char *lg = pa ? strstr(pa, "\"lag\": ") : NULL;
            const char *nl = strchr(s, '\n');
            if (!lg || (nl && lg > nl)) continue;
            char topic[256];
            snprintf(topic, sizeof topic, "%.*s", (int)ED_MIN((size_t)(e - s), sizeof topic - 1),
                     s);
            ed_http_out_printf(o, "eddy_mirror_lag{topic=\"");
            ed_http_out_label(o, topic);
            ed_http_out_printf(o, "\",partition=\"%ld\"} %lld\n", strtol(pa + 13, NULL, 10),
                               strtoll(lg + 7, NULL, 10));
        }
    }
    family(o, "eddy_mirror_dropped_ranges_total", "counter",
           "Offset ranges deleted before they were mirrored (mirror.on.full=drop-oldest)");
    if (ranges >= 0) ed_http_out_printf(o, "eddy_mirror_dropped_ranges_total %lld\n", ranges);
    family(o, "eddy_mirror_dropped_records_total", "counter",
           "Records deleted before they were mirrored (mirror.on.full=drop-oldest)");
    if (records >= 0) ed_http_out_printf(o, "eddy_mirror_dropped_records_total %lld\n", records);
    ed_http_out_free(&st);
}

/* The MQTT pull bridges, one series per bridge (the last error is in the
 * log). */
static void mqtt_bridges(struct ed_http_out *o, ed_broker *b)
{
#if ED_WITH_MQTT
    const ed_mqtt_bridges *s = ed_broker_service_obj(b, ED_MQTT_BRIDGE_SERVICE);
    int n = ed_mqtt_bridge_count(s);
    if (n == 0) return;
    struct ed_mqtt_bridge_status st[ED_CONFIG_MAX_BRIDGES];
    for (int i = 0; i < n && i < ED_CONFIG_MAX_BRIDGES; i++)
        ed_mqtt_bridge_status_get(s, i, &st[i]);
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"eddy_mqtt_bridge_connected", "gauge", "1 while the bridge's session at its source is up"},
        {"eddy_mqtt_bridge_messages_total", "counter", "Messages the bridge stored"},
        {"eddy_mqtt_bridge_duplicates_total", "counter",
         "QoS 2 redeliveries before PUBREL the bridge did not store again"},
        {"eddy_mqtt_bridge_dropped_total", "counter",
         "Messages no route or topic took (acknowledged, logged)"},
        {"eddy_mqtt_bridge_connects_total", "counter", "Sessions the source accepted"},
        {"eddy_mqtt_bridge_in_flight", "gauge", "Messages waiting for the disk"},
    };
    for (size_t f = 0; f < ED_ARRAY_LEN(fams); f++) {
        family(o, fams[f].name, fams[f].type, fams[f].help);
        for (int i = 0; i < n && i < ED_CONFIG_MAX_BRIDGES; i++) {
            uint64_t v[] = {st[i].connected, st[i].n_in,       st[i].n_dup,
                            st[i].n_dropped, st[i].n_connects, st[i].in_flight};
            ed_http_out_printf(o, "%s{bridge=\"%s\"} %" PRIu64 "\n", fams[f].name, st[i].name,
                               v[f]);
        }
    }
#else
    ED_UNUSED(o);
    ED_UNUSED(b);
#endif
}

static void process(struct ed_http_out *o)
{
    struct ed_mem_stats ms;
    ed_mem_stats_get(&ms);
    family(o, "eddy_memory_used_bytes", "gauge",
           "Heap bytes Eddy has allocated (memory.max.bytes caps it)");
    ed_http_out_printf(o, "eddy_memory_used_bytes %zu\n", ms.cur_len);
    uint64_t rss = 0, cpu = 0;
    if (ed_plat_proc_usage(&rss, &cpu) != ED_OK) return;
    family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes");
    ed_http_out_printf(o, "process_resident_memory_bytes %" PRIu64 "\n", rss);
    family(o, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds");
    ed_http_out_printf(o, "process_cpu_seconds_total %.6f\n", (double)cpu / 1e9);
}

void ed_http_metrics_page(ed_http_conn *c)
{
    ed_broker *b = c->h->b;
    const struct ed_metrics *m = ed_metrics_get();
    struct ed_http_out o;
    ed_http_out_init(&o, PAGE_MAX);
    topic_counters(&o, m);
    requests(&o, m);
    connections(&o, m);
    storage(&o, b, m);
    partitions(&o, b);
    groups(&o, b);
    mirror(&o, b);
    mqtt_bridges(&o, b);
    process(&o);
    if (o.err)
        ed_http_reply_error(c, 500, "the metrics page is larger than its limit or out of memory");
    else
        ed_http_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", o.p, o.len, NULL);
    ed_http_out_free(&o);
}
