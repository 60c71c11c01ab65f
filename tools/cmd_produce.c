/* `eddy produce`: reads lines from stdin (optionally "key<SEP>value") and
 * produces them to a topic over the Kafka protocol, in batches built by the
 * storage batch builder (optionally compressed). Keyed records go to the
 * partition Kafka's Java client would choose (murmur2); unkeyed records
 * fill one partition's batch at a time, round-robin. */
#include "core/partitioner.h"
#include "tools/cli.h"
#include "tools/cmds.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <stdlib.h>
#include <string.h>

#define CMD               "produce"
#define BATCH_LEN_DEFAULT 1000000
#define LINE_MAX_LEN      (16u << 20)

static const char usage_text[] =
    "usage: eddy produce -t TOPIC [options] < lines\n"
    "\n"
    "Produces each line of standard input as one record.\n"
    "\n"
    "options:\n"
    "  -b, --bootstrap-server HOST:PORT  broker (default localhost:9092)\n"
    "  -t, --topic NAME                  topic to write to\n"
    "  -p, --partition N                 write every record to partition N (default:\n"
    "                                    by key like Kafka's Java client, else round-robin)\n"
    "  -k, --key-separator SEP           split each line at the first SEP into key and value\n"
    "  -H, --header KEY=VALUE            add this header to every record (repeatable)\n"
    "      --acks all|1|0                acknowledgement to wait for (default all: on flash)\n"
    "      --compression none|gzip|snappy|lz4|zstd   batch compression (default none)\n"
    "      --batch-bytes N               largest batch (default 1000000)\n"
    "      --line-buffered               send each line at once (interactive use)\n"
    "      --timeout MS                  request timeout (default 30000)\n"
    "  -h, --help                        this text\n"
    "\n"
    "example:\n"
    "  printf 'turbine-7:{\"rpm\":14.2}\\n' | eddy produce -t telemetry -k :\n";

struct part {
    ed_batch_builder *bb;
    bool open;
};

struct producer {
    ed_kclient *c;
    const char *topic;
    int16_t acks;
    int compression;
    size_t batch_len;
    int32_t n_parts;
    struct part *parts;
    int64_t n_sent;
    uint64_t n_flushes;
};

/* Sends every open batch in one Produce request and checks the answer. */
static int flush_all(struct producer *pr)
{
    struct ed_kc_produce_part *pp = ed_calloc((size_t)pr->n_parts, sizeof *pp);
    if (!pp) return 1;
    int n = 0, rc = 0;
    int64_t records = 0;
    for (int32_t i = 0; i < pr->n_parts; i++) {
        struct part *p = &pr->parts[i];
        if (!p->open) continue;
        uint8_t *buf;
        size_t len;
        records += ed_batch_builder_count(p->bb);
        if (ed_batch_builder_finish(p->bb, &buf, &len) != ED_OK) {
            fprintf(stderr, "eddy produce: cannot build a batch\n");
            rc = 1;
            goto out;
        }
        p->open = false;
        pp[n++] = (struct ed_kc_produce_part){pr->topic, i, buf, len};
    }
    if (n == 0) goto out;
    pr->n_flushes++;
    struct ed_kc_produce res;
    if (ed_kclient_produce(pr->c, pr->acks, pp, n, &res) != ED_OK) {
        fprintf(stderr, "eddy produce: %s\n", ed_kclient_last_error(pr->c));
        rc = 1;
        goto out;
    }
    for (int32_t i = 0; i < res.n; i++) {
        if (!res.parts[i].error) continue;
        char what[320];
        snprintf(what, sizeof what, "partition %d of '%s'", (int)res.parts[i].partition, pr->topic);
        ed_cli_kerr(stderr, CMD, what, res.parts[i].error, res.parts[i].message);
        rc = 1;
    }
    if (pr->acks != 0 && res.n != n) {
        fprintf(stderr, "eddy produce: the broker answered for %d of %d partitions\n", (int)res.n,
                n);
        rc = 1;
    }
    ed_kc_free(&res.mem);
    if (!rc) pr->n_sent += records;
out:
    ed_free(pp);
    return rc;
}

static int add_record(struct producer *pr, int32_t part, const char *key, size_t key_len,
                      const char *value, size_t value_len, const struct ed_record_header *h,
                      size_t n_h)
{
    struct part *p = &pr->parts[part];
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!p->open) {
            int rc =
                ed_batch_builder_begin(p->bb, pr->compression, ed_plat_clock_wall_ms(), -1, -1, -1);
            if (rc) {
                fprintf(stderr, "eddy produce: cannot start a batch: %s\n", ed_strerror(rc));
                return 1;
            }
            p->open = true;
        }
        int rc = ed_batch_builder_add(p->bb, key, key_len, value, value_len, h, n_h, -1);
        if (rc == ED_OK) return 0;
        if (rc != ED_ERR_TOOBIG || ed_batch_builder_count(p->bb) == 0) {
            fprintf(stderr, "eddy produce: record of %zu bytes does not fit a batch of %zu bytes\n",
                    key_len + value_len, pr->batch_len);
            return 1;
        }
        if (flush_all(pr)) return 1;
    }
    return 1;
}

/* Reads one line (without its newline) into a growing buffer; false at EOF. */
static bool read_line(char **buf, size_t *cap, size_t *len, bool *too_long)
{
    size_t n = 0;
    *too_long = false;
    for (;;) {
        if (*cap - n < 2) {
            size_t ncap = *cap ? *cap * 2 : 4096;
            if (ncap > LINE_MAX_LEN) {
                *too_long = true;
                return false;
            }
            char *b = ed_realloc(*buf, ncap);
            if (!b) {
                *too_long = true;
                return false;
            }
            *buf = b;
            *cap = ncap;
        }
        if (!fgets(*buf + n, (int)(*cap - n), stdin)) {
            *len = n;
            return n > 0;
        }
        n += strlen(*buf + n);
        if (n && (*buf)[n - 1] == '\n') {
            *len = n - 1;
            return true;
        }
    }
}

int ed_cmd_produce(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL, *part_s = NULL, *sep = NULL, *acks_s = NULL,
               *comp_s = NULL, *batch_s = NULL, *timeout = NULL;
    const char *hdrs[ED_CLI_MAX_MULTI];
    int n_hdrs = 0;
    bool help = false, line_buffered = false;
    const struct ed_cli_opt opts[] = {
        {"bootstrap-server", 'b', true, &bootstrap, NULL, NULL, NULL},
        {"topic", 't', true, &topic, NULL, NULL, NULL},
        {"partition", 'p', true, &part_s, NULL, NULL, NULL},
        {"key-separator", 'k', true, &sep, NULL, NULL, NULL},
        {"header", 'H', true, NULL, NULL, hdrs, &n_hdrs},
        {"acks", 0, true, &acks_s, NULL, NULL, NULL},
        {"compression", 'z', true, &comp_s, NULL, NULL, NULL},
        {"batch-bytes", 0, true, &batch_s, NULL, NULL, NULL},
        {"line-buffered", 0, false, NULL, &line_buffered, NULL, NULL},
        {"timeout", 0, true, &timeout, NULL, NULL, NULL},
        {"help", 'h', false, NULL, &help, NULL, NULL},
    };
    int st = ed_cli_start(CMD, argc, argv, opts, (int)ED_ARRAY_LEN(opts), usage_text, &help,
                          "topic", &topic);
    if (st >= 0) return st;
    struct producer pr = {0};
    pr.topic = topic;
    pr.acks = -1;
    if (acks_s) {
        if (strcmp(acks_s, "all") == 0 || strcmp(acks_s, "-1") == 0)
            pr.acks = -1;
        else if (strcmp(acks_s, "1") == 0)
            pr.acks = 1;
        else if (strcmp(acks_s, "0") == 0)
            pr.acks = 0;
        else {
            fprintf(stderr, "eddy produce: --acks must be all, 1 or 0, not '%s'\n", acks_s);
            return 2;
        }
    }
    static const struct {
        const char *name;
        int codec;
    } codecs[] = {{"none", ED_COMPRESSION_NONE},
                  {"gzip", ED_COMPRESSION_GZIP},
                  {"snappy", ED_COMPRESSION_SNAPPY},
                  {"lz4", ED_COMPRESSION_LZ4},
                  {"zstd", ED_COMPRESSION_ZSTD}};
    pr.compression = comp_s ? -1 : ED_COMPRESSION_NONE;
    for (size_t i = 0; comp_s && i < ED_ARRAY_LEN(codecs); i++)
        if (strcmp(comp_s, codecs[i].name) == 0) pr.compression = codecs[i].codec;
    if (pr.compression < 0) {
        fprintf(stderr, "eddy produce: --compression must be none, gzip, snappy, lz4 or zstd\n");
        return 2;
    }
    int64_t v;
    pr.batch_len = BATCH_LEN_DEFAULT;
    if (batch_s) {
        if (!ed_cli_int(CMD, "--batch-bytes", batch_s, 128, 64 << 20, &v)) return 2;
        pr.batch_len = (size_t)v;
    }
    int32_t fixed_part = -1;
    if (part_s) {
        if (!ed_cli_int(CMD, "--partition", part_s, 0, INT32_MAX, &v)) return 2;
        fixed_part = (int32_t)v;
    }
    if (sep && !*sep) {
        fprintf(stderr, "eddy produce: --key-separator must not be empty\n");
        return 2;
    }
    struct ed_record_header headers[ED_CLI_MAX_MULTI];
    for (int i = 0; i < n_hdrs; i++) {
        const char *eq = strchr(hdrs[i], '=');
        if (!eq || eq == hdrs[i]) {
            fprintf(stderr, "eddy produce: --header wants KEY=VALUE, not '%s'\n", hdrs[i]);
            return 2;
        }
        headers[i] = (struct ed_record_header){(const uint8_t *)hdrs[i], (int32_t)(eq - hdrs[i]),
                                               (const uint8_t *)eq + 1, (int32_t)strlen(eq + 1)};
    }

    pr.c = ed_cli_connect(CMD, bootstrap, timeout);
    if (!pr.c) return 1;
    int rc = 1;
    char *line = NULL;
    size_t cap = 0, len;
    struct ed_kc_metadata md;
    const char *names[1] = {topic};
    if (ed_kclient_metadata(pr.c, names, 1, true, &md) != ED_OK) {
        fprintf(stderr, "eddy produce: %s\n", ed_kclient_last_error(pr.c));
        goto out;
    }
    int16_t merr = md.n_topics == 1 ? md.topics[0].error : 3;
    pr.n_parts = merr ? 0 : md.topics[0].n_partitions;
    ed_kc_free(&md.mem);
    if (merr || pr.n_parts <= 0) {
        char what[300];
        snprintf(what, sizeof what, "topic '%s'", topic);
        ed_cli_kerr(stderr, CMD, what, merr ? merr : 5, (ed_kstr){NULL, -1});
        goto out;
    }
    if (fixed_part >= pr.n_parts) {
        fprintf(stderr, "eddy produce: topic '%s' has no partition %d (it has %d)\n", topic,
                (int)fixed_part, (int)pr.n_parts);
        goto out;
    }
    pr.parts = ed_calloc((size_t)pr.n_parts, sizeof *pr.parts);
    if (!pr.parts) goto out;
    for (int32_t i = 0; i < pr.n_parts; i++)
        if (ed_batch_builder_new(pr.batch_len, &pr.parts[i].bb) != ED_OK) goto out;

    int32_t rr = 0;
    int64_t line_no = 0;
    bool too_long;
    while (read_line(&line, &cap, &len, &too_long)) {
        line_no++;
        const char *key = NULL, *value = line;
        size_t key_len = 0, value_len = len;
        if (sep) {
            size_t sl = strlen(sep);
            const char *s = NULL;
            for (size_t i = 0; i + sl <= len && !s; i++)
                if (memcmp(line + i, sep, sl) == 0) s = line + i;
            if (!s) {
                fprintf(stderr, "eddy produce: line %lld has no key separator '%s'\n",
                        (long long)line_no, sep);
                goto out;
            }
            key = line;
            key_len = (size_t)(s - line);
            value = s + sl;
            value_len = len - key_len - sl;
        }
        int32_t part = fixed_part;
        if (part < 0 && key) part = ed_partitioner_pick((const uint8_t *)key, key_len, pr.n_parts);
        if (part < 0) part = rr; /* unkeyed: one partition until a batch is sent */
        uint64_t flushes = pr.n_flushes;
        if (add_record(&pr, part, key, key_len, value, value_len, headers, (size_t)n_hdrs))
            goto out;
        if (line_buffered && flush_all(&pr)) goto out;
        if (pr.n_flushes != flushes) rr = (rr + 1) % pr.n_parts;
    }
    if (too_long) {
        fprintf(stderr, "eddy produce: line %lld is longer than %u bytes\n", (long long)line_no + 1,
                LINE_MAX_LEN);
        goto out;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "eddy produce: cannot read standard input\n");
        goto out;
    }
    rc = flush_all(&pr);
out:
    if (pr.parts)
        for (int32_t i = 0; i < pr.n_parts; i++)
            ed_batch_builder_free(pr.parts[i].bb);
    ed_free(pr.parts);
    ed_free(line);
    ed_kclient_close(pr.c);
    return rc;
}
